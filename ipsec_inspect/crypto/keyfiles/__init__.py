"""Key-file readers and writers, one module per format; ``detect.load_key_path`` picks one.

Every reader takes the text and a display name (``file`` or ``file`` inside a folder) and
returns a ``KeyStore``; a row it cannot use becomes a ``problems`` entry naming the file
and line, never an exception.
"""
