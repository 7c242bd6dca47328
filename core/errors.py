"""Errors that carry a sentence meant for the person using the app."""


class UserInputError(ValueError):
    """Raised when a value typed, chosen or uploaded by a user cannot be used.

    The message is written for a student: it says what is wrong and, where it can,
    what would work instead. Pages show it next to the widget that caused it.
    """


class ShapeError(UserInputError):
    """An operation's sizes do not fit (e.g. a kernel larger than the padded input)."""
