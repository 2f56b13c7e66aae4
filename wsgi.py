"""gunicorn entry point: gunicorn wsgi:app"""
from employee_app import create_app

app = create_app()
