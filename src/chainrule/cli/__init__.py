"""The ``chainrule`` command. Nothing in the library imports this package."""
