# Sourced (never run) by every bench in scripts/bench/: strict mode, the repository root
# as the working folder, one argument parser, the bench venv and the versions
# scripts/setup.sh pins (the one place they are written).
#
#   . "$(dirname "$0")/lib.sh"
#   opt --space space fairnas    # an option with a value: its variable and default
#   flag --no-wgpu wgpu 0 1      # a switch: its variable, its value, the default
#   rest_into extra              # `--` ends the options; what follows goes into extra
#   parse "$@"                   # -h/--help prints the script's header comment
set -euo pipefail
_bench_script=$(realpath "$0")
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bench="scripts/bench/$(basename "$0")"
declare -A _bench_value=() _bench_flag=()
_bench_rest=

# A one-line error naming the bench, exit status 2 (a usage error).
die() {
  echo "$bench: $*" >&2
  exit 2
}

# What the bench is doing, on stderr.
say() { echo "$bench: $*" >&2; }

opt() {
  _bench_value[$1]=$2
  printf -v "$2" '%s' "$3"
}

flag() {
  _bench_flag[$1]="$2=$3"
  if [ $# -ge 4 ]; then printf -v "$2" '%s' "$4"; fi
}

# The script's header: its comment lines from the second on, without the '# '.
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$_bench_script"; }

rest_into() {
  _bench_rest=$1
  eval "$1=()"
}

parse() {
  while [ $# -gt 0 ]; do
    case "$1" in
      -h | --help)
        usage
        exit 0
        ;;
      --)
        if [ -n "$_bench_rest" ]; then
          shift
          eval "$_bench_rest=(\"\$@\")"
          return 0
        fi
        ;;
    esac
    if [ -n "${_bench_value[$1]+x}" ]; then
      [ $# -ge 2 ] || die "$1 needs a value"
      printf -v "${_bench_value[$1]}" '%s' "$2"
      shift 2
    elif [ -n "${_bench_flag[$1]+x}" ]; then
      local set=${_bench_flag[$1]}
      printf -v "${set%%=*}" '%s' "${set#*=}"
      shift
    else
      die "unknown argument '$1' (--help lists the options)"
    fi
  done
}

# The version scripts/setup.sh installs of NAME (its NAME_VERSION=…): ORT, ONNX, TORCH.
setup_version() {
  local v
  v=$(sed -n "s/^$1_VERSION=//p" scripts/setup.sh)
  [ -n "$v" ] || die "scripts/setup.sh pins no $1_VERSION"
  echo "$v"
}

# The benches' own venv, .deps/bench-venv (created on first use; the peers' packages
# are kept out of the project's .deps/venv), with the given requirements installed.
# Sets py (its python) and pip (its pip install, as an array).
bench_venv() {
  local venv=.deps/bench-venv
  if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    python3 -m venv "$venv"
  fi
  py=$venv/bin/python
  pip=("$py" -m pip install -q --disable-pip-version-check)
  if [ $# -gt 0 ]; then "${pip[@]}" "$@" >&2; fi
}

# The bench venv with the full PyTorch of scripts/setup.sh's version (about 3 GB with its
# CUDA libraries, installed once).
bench_torch_venv() {
  bench_venv
  local torch
  torch=$(setup_version TORCH)
  if ! "$py" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch')" 2> /dev/null; then
    say "installing torch==$torch into .deps/bench-venv"
    "${pip[@]}" "torch==$torch" >&2
  fi
}
