"""kpi.core.kept.Kept: the small LRU the definitions, kpis.yaml's reads and the charts share."""

from __future__ import annotations

import threading

from kpi.core.kept import Kept


def test_the_least_recently_used_goes_first() -> None:
    kept: Kept[str, int] = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # a is now the most recent
    kept.put("c", 3)  # b goes
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (1, None, 3, 2)
    kept.put("a", 10)  # put again: replaced, most recent
    kept.put("d", 4)  # c goes
    assert (kept.get("a"), kept.get("c"), kept.get("d")) == (10, None, 4)
    kept.clear()
    assert len(kept) == 0 and kept.get("a") is None


def test_threads_putting_and_getting_at_once_never_exceed_the_size() -> None:
    kept: Kept[int, int] = Kept(5)

    def work(offset: int) -> None:
        for n in range(2_000):
            kept.put((n + offset) % 17, n)
            kept.get(n % 17)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kept) == 5
