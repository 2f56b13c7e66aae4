"""Where the keyboard is after a refused form: on the first field with a
problem (the HTML autofocus attribute, no script), so that keyboard and
screen-reader users start where the work is, not at the top of the page."""
from flask import Flask, g


def first_problem() -> bool:
    """True for the first field with a problem that this request renders
    (templates/_macros/forms.html form_field), False for the others."""
    if g.get("problem_focused"):
        return False
    g.problem_focused = True
    return True


def init_app(app: Flask) -> None:
    app.add_template_global(first_problem)
