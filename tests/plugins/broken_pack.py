"""A plug-in that fails to import: it must be reported, never stop the server."""

import this_module_does_not_exist  # noqa: F401
