#!/usr/bin/env bash
# Convert the skill's models to Ascend 310 .om files, each with its own static AIPP baked in.
#
#   ./convert_om.sh [caffe|onnx] [--model BASENAME] [--aipp FILE] [--output BASENAME]
#                   [--check] [--dry-run]
#
#   caffe (default): omg --framework=0 (HiLens Studio / HiLens Kit DDK), reads
#                    BASENAME.prototxt + BASENAME.caffemodel
#   onnx:            atc --framework=5 --soc_version=Ascend310 (newer CANN toolkits), reads
#                    BASENAME.onnx; --input_shape is read from the file (defaults if no Python
#                    with onnx is around)
#   --model   BASENAME   convert only this model; default: every model the skill ships,
#                        model/matting, model/person_detector and model/person_segmenter
#   --aipp    FILE       the AIPP config (only with --model); default: the model's own, found
#                        as the simulator finds it: BASENAME.aipp.cfg beside the model, then in
#                        the folder above, then aipp.cfg in those two places
#                        (model/matting -> ./aipp.cfg, model/person_detector ->
#                        model/person_detector.aipp.cfg)
#   --output  BASENAME   (only with --model) default = --model; the tool writes BASENAME.om
#   --check   run python -m tools.model.check_caffe_boundary / check_onnx_ascend first
#   --dry-run print the commands and stop (the tool need not be installed)
#   PYTHON=...  the Python for --check and for reading ONNX shapes (default: .venv, python3)
#
# Everything is checked before any tool runs: the tool on PATH, every input file of every model.
# Any problem ends the script with one line on stderr and a non-zero exit; each command is
# printed as run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SKILL_MODELS=(model/matting model/person_detector model/person_segmenter)
# --input_shape when no Python with onnx can read it from the file
default_input_shape() {
    case "$(basename "$1")" in
        person_detector) echo "image:1,3,224,224" ;;
        person_segmenter) echo "image:1,3,256,256" ;;
        *) echo "image:1,3,144,256;prev_alpha:1,1,144,256" ;;
    esac
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
fail() { echo "convert_om.sh: $1" >&2; exit "${2:-1}"; }

mode=caffe
model=
aipp=
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

if [ -n "$model" ]; then
    # a BASENAME given with its extension is accepted too
    case "$model" in *.prototxt|*.caffemodel|*.onnx) model="${model%.*}" ;; esac
    models=("$model")
else
    [ -z "$aipp" ] || fail "--aipp needs --model: without it every model gets its own AIPP config" 2
    [ -z "$output" ] || fail "--output needs --model: without it every model is written beside its files" 2
    models=("${SKILL_MODELS[@]}")
fi

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

# the AIPP config of a model BASENAME, looked up as the simulator (stubs/hilens/aipp.py) does
find_aipp() {
    local dir stem parent candidate
    dir="$(dirname "$1")"
    stem="$(basename "$1")"
    parent="$(dirname "$dir")"
    for candidate in "$dir/$stem.aipp.cfg" "$parent/$stem.aipp.cfg" "$dir/aipp.cfg" "$parent/aipp.cfg"; do
        if [ -f "$candidate" ]; then
            echo "${candidate#./}"
            return 0
        fi
    done
    return 1
}

if [ "$mode" = caffe ]; then tool=omg; else tool=atc; fi
if [ "$dry_run" != 1 ] && ! command -v "$tool" >/dev/null 2>&1; then
    if [ "$tool" = omg ]; then
        fail "omg not found on PATH (it comes with the HiLens Studio / DDK toolchain; run this there)"
    fi
    fail "atc not found on PATH (it comes with the Ascend CANN toolkit; source its set_env.sh first)"
fi

# every model's command, built (and its files checked) before anything runs
commands=()
checkers=()
outputs=()
for base in "${models[@]}"; do
    stem="$(basename "$base")"
    if [ -n "$aipp" ]; then
        cfg="$aipp"
        [ -f "$cfg" ] || fail "missing AIPP config $cfg"
    else
        cfg="$(find_aipp "$base")" || fail "missing AIPP config for $base ($base.aipp.cfg or aipp.cfg beside it or in the folder above)"
    fi
    out="${output:-$base}"
    out="${out%.om}"
    case "$stem:$mode" in
        person_*:caffe) exporter="python -m tools.model.export_pose_caffe" ;;
        person_*:onnx) exporter="python -m tools.model.export_pose_onnx" ;;
        *:caffe) exporter="python -m tools.model.export_caffe" ;;
        *) exporter="python -m tools.model.export_onnx" ;;
    esac
    if [ "$mode" = caffe ]; then
        prototxt="$base.prototxt"
        weights="$base.caffemodel"
        [ -f "$prototxt" ] || fail "missing Caffe network file $prototxt (make it with: $exporter)"
        [ -f "$weights" ] || fail "missing Caffe weights file $weights (make it with: $exporter)"
        cmd=("$tool" --framework=0 "--model=$prototxt" "--weight=$weights"
             "--insert_op_conf=$cfg" "--output=$out")
        checker="tools.model.check_caffe_boundary --quiet $(printf '%q %q' "$prototxt" "$weights")"
    else
        onnx_file="$base.onnx"
        [ -f "$onnx_file" ] || fail "missing ONNX model $onnx_file (make it with: $exporter)"
        input_shape="$(default_input_shape "$base")"
        if py="$(find_python)"; then
            input_shape="$(tools_python "$py" -m tools.model.check_onnx_ascend --input-shape "$onnx_file")" \
                || fail "cannot read the input shapes of $onnx_file"
        else
            echo "convert_om.sh: note: no Python with onnx found; assuming --input_shape=$input_shape for $onnx_file" >&2
        fi
        cmd=("$tool" --framework=5 "--model=$onnx_file" "--output=$out" --soc_version=Ascend310
             --input_format=NCHW "--input_shape=$input_shape" "--insert_op_conf=$cfg")
        checker="tools.model.check_onnx_ascend $(printf '%q' "$onnx_file")"
    fi
    # the command, quoted so that it can be pasted into a shell (and run again from here)
    quoted=()
    for arg in "${cmd[@]}"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then quoted+=("$arg"); else quoted+=("'${arg//\'/\'\\\'\'}'"); fi
    done
    commands+=("${quoted[*]}")
    checkers+=("$checker")
    outputs+=("$out")
done

if [ "$check" = 1 ]; then
    py="$(find_python)" || fail "--check needs a Python with numpy and onnx"
    for checker in "${checkers[@]}"; do
        eval "tools_python \"\$py\" -m $checker" >&2 \
            || fail "$mode model is outside what $tool accepts (see the checker's list above)"
    done
fi

for i in "${!commands[@]}"; do
    echo "${commands[$i]}"
done
[ "$dry_run" = 1 ] && exit 0

for i in "${!commands[@]}"; do
    out="${outputs[$i]}"
    mkdir -p "$(dirname "$out")" || fail "cannot create the output folder $(dirname "$out")"
    rm -f "$out.om"  # a stale .om must not pass for this run's result
    eval "${commands[$i]}" || fail "$tool failed (exit $?)"
    [ -f "$out.om" ] || fail "$tool exited 0 but $out.om was not written"
    echo "wrote $out.om"
done
