#!/usr/bin/env bash
# Sourced by the benchmark scripts that record their results in BENCHMARKS.md.
#
# replace_results <name> <title> <file>: puts the contents of <file> between the lines
# `<!-- results: <name> -->` and `<!-- end results: <name> -->` of BENCHMARKS.md, in place of
# what was there, and leaves the rest of the page as it is. When the page lacks that pair of
# markers (exactly one of each, in order), a section `## <title>` holding them is appended.

replace_results() {
  local name=$1 title=$2 file=$3 md=BENCHMARKS.md
  local begin="<!-- results: $name -->" end="<!-- end results: $name -->"
  local tmp
  tmp=$(mktemp)
  [ -f "$md" ] || printf '# Benchmarks\n' >"$md"
  local b e
  b=$(grep -nxF -- "$begin" "$md" | cut -d: -f1 || true)
  e=$(grep -nxF -- "$end" "$md" | cut -d: -f1 || true)
  if [ -n "$b" ] && [ -n "$e" ] && [ "$(wc -w <<<"$b $e")" = 2 ] && [ "$b" -lt "$e" ]; then
    awk -v b="$b" -v e="$e" -v file="$file" '
      NR == b { print; while ((getline line < file) > 0) print line; next }
      NR > b && NR < e { next }
      { print }
    ' "$md" >"$tmp"
  else
    { cat "$md"; printf '\n## %s\n\n%s\n' "$title" "$begin"; cat "$file"; printf '%s\n' "$end"; } >"$tmp"
  fi
  cat "$tmp" >"$md"
  rm -f "$tmp"
}
