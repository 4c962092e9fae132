class TradeoffError(Exception):
    """A user-facing problem: bad input, a missing program, an unreadable table.

    The message is one line that names the problem and how to fix it; the CLI prints it
    without a traceback.
    """
