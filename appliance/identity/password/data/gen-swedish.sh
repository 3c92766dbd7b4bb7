#!/bin/sh
# Sorts the hand-written swedish.src into swedish.txt (one word a line,
# bytewise order) for the binary search in ../common.go.
set -eu
grep -v '^#' swedish.src | tr -s ' \t' '\n\n' | grep -v '^$' | LC_ALL=C sort -u >swedish.txt
