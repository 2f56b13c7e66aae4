"""employee_app: HR staff keep their company's employee records here."""
import os

from flask import Flask

from . import clock, connections, form_errors, fragments, observability, query_params, valkey_store
from .config import config_from_env
from .json_provider import AppJSONProvider
from .logs import configure_logging


class EmployeeApp(Flask):
    def dispatch_request(self):
        """A GET that met a database connection the server had closed runs
        once more (connections.py), instead of answering 500."""
        return connections.dispatch_again_if_disconnected(super().dispatch_request)


def create_app(overrides: dict | None = None) -> Flask:
    """Build an app configured from the environment, then from overrides."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = EmployeeApp(__name__, template_folder=os.path.join(root, "templates"),
                static_folder=os.path.join(root, "static"),
                instance_path=os.path.join(root, "instance"))
    app.config.update(config_from_env())
    app.config.update(overrides or {})
    app.config["UPLOAD_DIR"] = app.config.get("UPLOAD_DIR") or os.path.join(app.instance_path, "uploads")
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is not set: export a long random value (see README).")

    clock.configure(app.config["APP_TIMEZONE"])
    configure_logging()
    app.jinja_env.add_extension("jinja2.ext.do")
    app.json = AppJSONProvider(app)
    observability.init_app(app)  # request ids and metrics: first, so they see every other hook
    register_extensions(app)
    query_params.init_app(app)
    fragments.init_app(app)
    form_errors.init_app(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from .extensions import csrf, db, login_manager, migrate
    from .security import register_csrf_token_cache

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    csrf.init_app(app)
    register_csrf_token_cache(app)
    login_manager.init_app(app)
    valkey_store.init_app(app)
    connections.init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import admin, api, audit, auth, employees, health, imports, lists, reports
    from .extensions import csrf
    from .security import register_security_headers

    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(employees.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(imports.export_bp)
    app.register_blueprint(lists.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(reports.home_bp)  # "/": the dashboard
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens, never cookies: nothing for a forged request to ride on
    api.rate_limits.init_app(app, api.bp)  # per token, only under /api/v1
    register_security_headers(app)


def register_error_handlers(app: Flask) -> None:
    from .errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from .cli import register_commands as register

    register(app)
