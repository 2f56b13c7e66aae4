from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..services.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

NEW_PASSWORD_HELP = (f"At least {MIN_PASSWORD_LENGTH} characters, not containing your username. "
                     "A few unrelated words make a good one.")


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=200)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
                             render_kw={"autocomplete": "current-password"})


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()],
                                     render_kw={"autocomplete": "current-password", "required": True})
    new_password = PasswordField("New password", validators=[DataRequired()], description=NEW_PASSWORD_HELP,
                                 render_kw={"autocomplete": "new-password", "required": True,
                                            "minlength": MIN_PASSWORD_LENGTH})
    confirm_password = PasswordField(
        "New password again", validators=[DataRequired(), EqualTo("new_password", "The two new passwords differ.")],
        render_kw={"autocomplete": "new-password", "required": True})


class NewTokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=100)],
                       description="What will use it, e.g. payroll sync.", render_kw={"required": True})


class RevokeTokenForm(FlaskForm):
    """Only its CSRF token: the token to revoke is in the URL."""
