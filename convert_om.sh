#!/usr/bin/env bash
# Convert the matting model to an Ascend 310 .om with the static AIPP of aipp.cfg baked in.
#
#   ./convert_om.sh [caffe|onnx] [--model BASENAME] [--aipp FILE] [--output BASENAME]
#                   [--check] [--dry-run]
#
#   caffe (default): omg --framework=0 (HiLens Studio / HiLens Kit DDK), reads
#                    BASENAME.prototxt + BASENAME.caffemodel
#   onnx:            atc --framework=5 --soc_version=Ascend310 (newer CANN toolkits), reads
#                    BASENAME.onnx; --input_shape is read from the file (defaults if no Python
#                    with onnx is around)
#   --model   BASENAME   default model/matting
#   --aipp    FILE       default aipp.cfg
#   --output  BASENAME   default = --model; the tool writes BASENAME.om
#   --check   run python -m tools.model.check_caffe_boundary / check_onnx_ascend first
#   --dry-run print the command and stop (the tool need not be installed)
#   PYTHON=...  the Python for --check and for reading ONNX shapes (default: .venv, python3)
#
# Everything is checked before the tool runs: the tool on PATH, every input file. Any problem
# ends the script with one line on stderr and a non-zero exit; the command is printed as run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_INPUT_SHAPE="image:1,3,144,256;prev_alpha:1,1,144,256"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
fail() { echo "convert_om.sh: $1" >&2; exit "${2:-1}"; }

mode=caffe
model=model/matting
aipp=aipp.cfg
output=
check=0
dry_run=0

while [ $# -gt 0 ]; do
    case "$1" in
        caffe|onnx) mode="$1" ;;
        --model|--aipp|--output)
            [ $# -ge 2 ] && [ -n "$2" ] || fail "$1 needs a value (see --help)" 2
            case "$1" in
                --model) model="$2" ;;
                --aipp) aipp="$2" ;;
                --output) output="$2" ;;
            esac
            shift ;;
        --model=*) model="${1#*=}" ;;
        --aipp=*) aipp="${1#*=}" ;;
        --output=*) output="${1#*=}" ;;
        --check) check=1 ;;
        --dry-run) dry_run=1 ;;
        -h|--help) usage; exit 0 ;;
        *) fail "unknown argument '$1' (usage: ./convert_om.sh [caffe|onnx] [--model BASENAME] [--aipp FILE] [--output BASENAME])" 2 ;;
    esac
    shift
done

# a BASENAME given with its extension is accepted too
case "$model" in *.prototxt|*.caffemodel|*.onnx) model="${model%.*}" ;; esac
[ -n "$output" ] || output="$model"
output="${output%.om}"

# the checkers are modules of this repository's tools/ package, found from any working folder
tools_python() { PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$@"; }

# the Python that can read ONNX files and run the checkers, if any
find_python() {
    local py
    for py in ${PYTHON:+"$PYTHON"} "$ROOT/.venv/bin/python" python3 python; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import onnx, numpy' >/dev/null 2>&1; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

if [ "$mode" = caffe ]; then
    tool=omg
    prototxt="$model.prototxt"
    weights="$model.caffemodel"
    [ "$dry_run" = 1 ] || command -v "$tool" >/dev/null 2>&1 || fail "omg not found on PATH (it comes with the HiLens Studio / DDK toolchain; run this there)"
    [ -f "$prototxt" ] || fail "missing Caffe network file $prototxt (make it with: python -m tools.model.export_caffe)"
    [ -f "$weights" ] || fail "missing Caffe weights file $weights (make it with: python -m tools.model.export_caffe)"
    [ -f "$aipp" ] || fail "missing AIPP config $aipp"
    cmd=("$tool" --framework=0 "--model=$prototxt" "--weight=$weights"
         "--insert_op_conf=$aipp" "--output=$output")
    checker=(tools.model.check_caffe_boundary --quiet "$prototxt" "$weights")
else
    tool=atc
    onnx_file="$model.onnx"
    [ "$dry_run" = 1 ] || command -v "$tool" >/dev/null 2>&1 || fail "atc not found on PATH (it comes with the Ascend CANN toolkit; source its set_env.sh first)"
    [ -f "$onnx_file" ] || fail "missing ONNX model $onnx_file (make it with: python -m tools.model.export_onnx)"
    [ -f "$aipp" ] || fail "missing AIPP config $aipp"
    input_shape="$DEFAULT_INPUT_SHAPE"
    if py="$(find_python)"; then
        input_shape="$(tools_python "$py" -m tools.model.check_onnx_ascend --input-shape "$onnx_file")" \
            || fail "cannot read the input shapes of $onnx_file"
    else
        echo "convert_om.sh: note: no Python with onnx found; assuming --input_shape=$input_shape" >&2
    fi
    cmd=("$tool" --framework=5 "--model=$onnx_file" "--output=$output" --soc_version=Ascend310
         --input_format=NCHW "--input_shape=$input_shape" "--insert_op_conf=$aipp")
    checker=(tools.model.check_onnx_ascend "$onnx_file")
fi

if [ "$check" = 1 ]; then
    py="$(find_python)" || fail "--check needs a Python with numpy and onnx"
    tools_python "$py" -m "${checker[@]}" >&2 \
        || fail "$mode model is outside what $tool accepts (see the checker's list above)"
fi

# the command, quoted so that it can be pasted into a shell
quoted=()
for arg in "${cmd[@]}"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then quoted+=("$arg"); else quoted+=("'${arg//\'/\'\\\'\'}'"); fi
done
echo "${quoted[*]}"
[ "$dry_run" = 1 ] && exit 0

out_dir="$(dirname "$output")"
mkdir -p "$out_dir" || fail "cannot create the output folder $out_dir"
rm -f "$output.om"  # a stale .om must not pass for this run's result
"${cmd[@]}" || fail "$tool failed (exit $?)"
[ -f "$output.om" ] || fail "$tool exited 0 but $output.om was not written"
echo "wrote $output.om"
