#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection at .build/sanity/ansible_collections/ironcloud/stack
# (ansible-test needs that path), with the files git tracks or would track, and an empty ignore file.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tree=$root/.build/sanity/ansible_collections/ironcloud/stack
mkdir -p "$tree"
cd "$root"
git ls-files --cached --others --exclude-standard -z | rsync -a --delete --from0 --files-from=- ./ "$tree/"
# A copy in its own git repository, so ansible-test sees exactly these files.
cd "$tree"
rm -rf .git && git init -q && git add -A
for ignore in tests/sanity/ignore-*.txt; do
  if [ -s "$ignore" ]; then echo "$ignore is not empty: fix the code instead" >&2; exit 1; fi
done
# ansible-test makes a virtualenv per sanity test and bootstraps pip into it with a script it downloads
# from a host outside the package registries; tests/sanity/get_pip.py does the same from ensurepip.
pip_version=$("$root/.venv/bin/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from types import SimpleNamespace
print(get_venv_packages(SimpleNamespace(version="3.11"))["pip"])
PY
)
mkdir -p "$HOME/.ansible/test/cache"
install -m 0644 "$root/tests/sanity/get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
exec "$root/.venv/bin/ansible-test" sanity --requirements --python 3.11 --color no "$@"
