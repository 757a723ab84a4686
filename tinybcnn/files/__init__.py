"""Disk I/O done safely: the one folder of the threat model (docs/architecture.md).

- :mod:`~tinybcnn.files.atomic`: atomic writes (a new temporary file, then a rename) and the
  clean-up of the package's own temporary files;
- :mod:`~tinybcnn.files.identity`: the data set and seed a demo or experiment folder was made
  with, recorded once and checked before its work is continued or reused;
- :mod:`~tinybcnn.files.jsonfile`: JSON written atomically, read from bounded regular files only;
- :mod:`~tinybcnn.files.npyfile`: ``.npy`` / ``.npz`` headers and sizes checked before anything
  is allocated, never unpickled;
- :mod:`~tinybcnn.files.runlock`: the ``.tinybcnn.lock`` of a folder being written;
- :mod:`~tinybcnn.files.rundir`: the run-folder rule every command that writes goes through.

Nothing here imports the numerical core (NumPy only, for the JSON and ``.npy`` readers), so
any layer may use these modules. The package imports none of them on its own: importing
``tinybcnn.files.atomic`` stays as light as it was.
"""
