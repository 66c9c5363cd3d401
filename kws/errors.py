"""The one error type users see: a message naming the file or setting and what is wrong."""


class KwsError(Exception):
    """Bad input or bad settings. The app prints the message alone, never a traceback."""
