# Sourced by test.sh and build_bundle.sh: finds the speech corpus (references.tsv, jfk.flac, ...)
# and exports VERBATIM_CORPUS, which the tests, benchmarks and bundle smoke test read.
# Looked for, in order: $VERBATIM_CORPUS; ../shared/corpus beside this checkout (as CI lays it
# out); ../shared/corpus beside the repository this one was cloned from (a clone made elsewhere,
# e.g. `git clone . /tmp/ci-check`).
find_corpus() {
  local origin candidate
  local candidates=("${VERBATIM_CORPUS:-}" "../shared/corpus")
  origin=$(git config --get remote.origin.url 2>/dev/null || true)
  origin=${origin#file://}
  [ -n "$origin" ] && [ -d "$origin" ] && candidates+=("$origin/../shared/corpus")
  for candidate in "${candidates[@]}"; do
    if [ -n "$candidate" ] && [ -f "$candidate/references.tsv" ]; then
      VERBATIM_CORPUS=$(cd "$candidate" && pwd)
      export VERBATIM_CORPUS
      return 0
    fi
  done
  echo "The speech corpus was not found (looked in: ${candidates[*]}); set VERBATIM_CORPUS" \
    "to the folder holding references.tsv." >&2
  return 1
}
find_corpus
