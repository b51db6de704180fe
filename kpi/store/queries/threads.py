"""The SQL of discussions: comments, replies, resolutions and who is mentioned.

Constant statements with bound parameters; the tables are made by
kpi.store.schema.BOOKKEEPING_DDL (`thread_comments`, `thread_resolutions`). A store written
before them lacks the tables until its next write, so readers ask catalog.HAS_TABLE first.
"""

from __future__ import annotations

THREAD = """
SELECT comment_id, subject, parent_id, author_email, author_name, text, created_at, mentions
FROM thread_comments
WHERE subject = $subject
ORDER BY comment_id
"""

GET_COMMENT = """
SELECT comment_id, subject, parent_id
FROM thread_comments
WHERE comment_id = $comment_id
"""

NEXT_COMMENT_ID = "SELECT coalesce(max(comment_id), 0) + 1 FROM thread_comments"

INSERT_COMMENT = """
INSERT INTO thread_comments (comment_id, subject, parent_id, author_email, author_name, text,
    created_at, mentions)
VALUES ($comment_id, $subject, $parent_id, $author_email, $author_name, $text, $created_at,
    $mentions::VARCHAR[])
"""

LAST_COMMENT_ID = """
SELECT max(comment_id) FROM thread_comments WHERE subject = $subject
"""

NEXT_RESOLUTION_ID = "SELECT coalesce(max(resolution_id), 0) + 1 FROM thread_resolutions"

INSERT_RESOLUTION = """
INSERT INTO thread_resolutions (resolution_id, subject, last_comment_id, resolved_by,
    resolved_by_name, resolved_at, reason)
VALUES ($resolution_id, $subject, $last_comment_id, $resolved_by, $resolved_by_name,
    $resolved_at, $reason)
"""

# The latest resolution of a thread, if it still holds (no comment came after it).
RESOLUTION = """
SELECT r.resolved_by, r.resolved_by_name, r.resolved_at, r.reason
FROM thread_resolutions r
WHERE r.subject = $subject
  AND r.last_comment_id >= (SELECT coalesce(max(comment_id), 0) FROM thread_comments
                            WHERE subject = $subject)
ORDER BY r.resolution_id DESC
LIMIT 1
"""

# Comments since a moment that mention any of $names (e-mails, departments), not written by
# $exclude (the person asking: their own words are no news to them), oldest first.
MENTIONS_SINCE = """
SELECT comment_id, subject, parent_id, author_email, author_name, text, created_at, mentions
FROM thread_comments
WHERE created_at >= $since
  AND len(list_intersect(mentions, $names::VARCHAR[])) > 0
  AND ($exclude IS NULL OR lower(author_email) <> $exclude)
ORDER BY comment_id
"""

# Every comment of the threads that are not resolved and mention any of $names: the
# workflow decides from them which threads still wait for the person.
OPEN_MENTIONING_THREADS = """
WITH mentioned AS (
    SELECT DISTINCT subject FROM thread_comments
    WHERE len(list_intersect(mentions, $names::VARCHAR[])) > 0
),
open_threads AS (
    SELECT m.subject FROM mentioned m
    WHERE NOT EXISTS (
        SELECT 1 FROM thread_resolutions r
        WHERE r.subject = m.subject
          AND r.last_comment_id >= (SELECT max(comment_id) FROM thread_comments c
                                    WHERE c.subject = m.subject))
)
SELECT comment_id, subject, parent_id, author_email, author_name, text, created_at, mentions
FROM thread_comments
WHERE subject IN (SELECT subject FROM open_threads)
ORDER BY subject, comment_id
"""

# How many comments each thread of a kind has, and whether it is resolved (for lists).
THREAD_SUMMARIES = """
SELECT c.subject, count(*) AS comments, max(c.created_at) AS last_at,
       EXISTS (SELECT 1 FROM thread_resolutions r
               WHERE r.subject = c.subject AND r.last_comment_id >= max(c.comment_id))
           AS resolved
FROM thread_comments c
WHERE starts_with(c.subject, $prefix)
GROUP BY c.subject
ORDER BY c.subject
"""
