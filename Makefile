# Two commands do all the set-up on a fresh machine (see README):
#   make demo   install everything, then track the bundled example video
#   make test   install everything, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
NODE_TOOLS := tools/node

.PHONY: demo test test-bpy42 bench bench-quick system venv clean addon evalset

# apt packages: ffmpeg (ffmpeg + ffprobe for probing and decoding), opencv-doc (a real
# photo of a hand the detector tests use). Skipped when already present.
APT_PACKAGES := ffmpeg opencv-doc
system:
	@missing=""; \
	command -v ffprobe >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	[ -f /usr/share/doc/opencv-doc/examples/data/right04.jpg ] || missing="$$missing opencv-doc"; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# PYTHONWARNINGS: setuptools announces every editable install of a package-dir layout
# (cli/ -> handmocap_cli) with an "Editable installation" note, which is not for users
$(STAMP): pyproject.toml
	python3.11 -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls GBs of CUDA packages
	$(PIP) install -q torch==2.13.0
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(PIP) install -q -e ".[test]"
	touch $(STAMP)

venv: system $(STAMP)

$(NODE_TOOLS)/node_modules/.installed: $(NODE_TOOLS)/package.json
	cd $(NODE_TOOLS) && npm install --no-audit --no-fund --silent
	touch $@

demo: venv
	$(VENV)/bin/handmocap track examples/hand_wave.mp4 --calib examples/hand_wave.calib.json \
	  --out out/demo --export glb,obj,preview,fbx --overwrite

test: venv $(NODE_TOOLS)/node_modules/.installed test-bpy42
	$(PY) -m pytest -q -n 2 --dist loadgroup

# The add-on tests again on Blender 4.2 LTS, the add-on's declared minimum. bpy 4.2 pulls
# numpy 2 (the main venv pins numpy<2), so it gets a venv of its own without torch; the
# motion files those tests read are written first with the main venv.
VENV42 ?= .venv-bpy42
STAMP42 := $(VENV42)/.installed
$(STAMP42):
	python3.11 -m venv $(VENV42) 2>/dev/null || python3 -m venv $(VENV42)
	$(VENV42)/bin/pip install -q --upgrade pip
	$(VENV42)/bin/pip install -q bpy==4.2.23 pytest pytest-xdist
	touch $(STAMP42)

test-bpy42: venv $(STAMP42)
	rm -rf out/test-bpy42
	$(PY) tests/blender/motions.py out/test-bpy42/motions
	HANDMOCAP_TEST_MOTIONS=$(CURDIR)/out/test-bpy42/motions $(VENV42)/bin/python -m pytest -q \
	  -p no:cacheprovider --confcutdir=tests/blender tests/blender

# benchmark report + plots in out/bench/ (full ~15 min; bench-quick ~2 min)
bench: venv
	$(PY) -m bench

bench-quick: venv
	$(PY) -m bench --quick

# the people evaluation set (anny bodies rendered in Blender; resumable chunks, ~10-20 s a
# still on 2 shared cores) and its MediaPipe detections; `make evalset SPLIT=train COUNT=3000`
# renders the training split (other subjects, poses, photos and seeds)
SPLIT ?= test
COUNT ?= 300
evalset: venv
	$(PIP) install -q -e ".[build-asset]"
	nice -n 10 $(PY) tools/render_eval_set.py stills --split $(SPLIT) --count $(COUNT) --out datasets/handeval/$(SPLIT)
	nice -n 10 $(PY) tools/render_eval_set.py clips --split $(SPLIT) --out datasets/handeval/$(SPLIT)
	$(PY) -m training.detector_pairs datasets/handeval/$(SPLIT)

# the Blender extension zip: dist/handmocap_blender.zip (install it in Blender 4.2+)
addon: venv
	$(PY) tools/build_addon.py

clean:
	rm -rf $(VENV) $(VENV42) out build dist $(NODE_TOOLS)/node_modules
