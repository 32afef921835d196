"""The generated parts of the user documentation (``make docs``, served at ``/docs/``).

Pages carry directives, ``<!-- omnirelay: NAME ARGUMENT -->``, that the mkdocs hook
(``docsgen/mkdocs_hook.py``) replaces with markdown built from the code itself: request field
tables from the wire structs and their validators' limits (``endpoints.py``), error tables
from ``errors.py`` and each surface's own rendering of it (``error_tables.py``), the settings
reference from ``config.Settings`` (``settings_table.py``) and model and price lists from
``catalogue.toml`` (``catalogue_tables.py``). So a limit or a code changed in the code changes
the page, and a field or a setting added without its sentence fails the docs tests.
"""
