#!/usr/bin/env bash
# PyTorch trains ~9x faster on these CPUs with jemalloc (Debian libjemalloc2). Install it when it is
# missing and we may (root, apt-get present); otherwise say so and carry on without it.
set -u
lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$lib" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "asdlib: installing Debian's libjemalloc2 (faster PyTorch on CPU)..."
  (apt-get install -y -qq libjemalloc2 >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libjemalloc2 >/dev/null 2>&1; }) \
    || echo "asdlib: could not install libjemalloc2; continuing without it (slower training)"
else
  echo "asdlib: $lib not found; 'sudo apt-get install libjemalloc2' makes CPU training ~9x faster"
fi
exit 0
