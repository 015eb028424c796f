#!/bin/sh
# Prints the path of a Python 3.12 or newer that actually runs. pyenv shims
# exist for versions that are installed but not selected and then fail, so each
# candidate is run once rather than trusted by name.
for candidate in "${PYTHON:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
    python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3 python3; do
    [ -n "$candidate" ] || continue
    path=$(command -v "$candidate" 2>/dev/null) || continue
    if "$path" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
        "$path" -c 'import sys; print(sys.executable)'
        exit 0
    fi
done
echo "deskmail needs Python 3.12 or newer; none was found (set PYTHON=/path/to/python3.12)" >&2
exit 1
