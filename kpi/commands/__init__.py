"""The command line's sub-commands beyond kpi.cli's own, and the error every command raises.

kpi.cli builds the parser and runs the command; a module here adds its sub-commands to that
parser (`add_parsers`) and raises UserError for what the person can fix.
"""


class UserError(Exception):
    """A problem the person can fix; printed as it is, exit code 1."""
