"""The app's JSON: Flask's, with two answers for what a hostile request
can send that Flask's own would turn into a 500."""
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import FileStorage


class AppJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        """A body nested deeper than Python's recursion limit ([[[[...) is
        not valid JSON for us: a ValueError, as Flask expects of broken JSON
        (get_json(silent=True) is None, the API's 400), not a RecursionError."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None

    @staticmethod
    def default(o):
        """An uploaded file, by its name: spectree writes the request's
        values into its validation errors (a multipart part under another
        name) before the API's own 422 replaces them."""
        if isinstance(o, FileStorage):
            return o.filename or "(a file)"
        return DefaultJSONProvider.default(o)
