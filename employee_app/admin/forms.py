from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo

from ..models import ROLES
from ..services.users import MAX_USERNAME_LENGTH, MIN_PASSWORD_LENGTH

ROLE_CHOICES = [("admin", "admin: everything (also delete, lists, accounts)"),
                ("hr", "hr: add, edit, import, view, export"),
                ("viewer", "viewer: read only")]
assert [value for value, _ in ROLE_CHOICES] == list(ROLES)
PASSWORD_HELP = f"At least {MIN_PASSWORD_LENGTH} characters, not containing the username."


def _password_fields(label: str):
    password = PasswordField(label, validators=[DataRequired()], description=PASSWORD_HELP,
                             render_kw={"autocomplete": "new-password", "required": True,
                                        "minlength": MIN_PASSWORD_LENGTH})
    confirm = PasswordField(f"{label} again",
                            validators=[DataRequired(), EqualTo("password", "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password", "required": True})
    return password, confirm


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()],
                           description="Letters, digits, '.', '_', '-' or '@'; stored lower-case.",
                           render_kw={"autocomplete": "off", "required": True, "maxlength": MAX_USERNAME_LENGTH})
    role = SelectField("Role", choices=ROLE_CHOICES, default="viewer")
    password, confirm = _password_fields("Password")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class ActionForm(FlaskForm):
    """A button that only carries the CSRF token (deactivate, reactivate)."""


class SetPasswordForm(FlaskForm):
    password, confirm = _password_fields("New password")
