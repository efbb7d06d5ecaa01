# StreetShop: `make run` runs it, `make test` tests it. Both build the virtual environment first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA := var/data
SEED_TRAIN := 1000
SEED_TEST := 9000
DEMO_PRODUCTS ?= 300
SCALED_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/streetshop
SCALED_REDIS_URL ?= redis://127.0.0.1:6379/15
# Real hand-labelled crops (not in the repo): their 'train' half joins training, their 'val' half is reported.
REAL_CROPS ?= ../shared/data/fld_dev
ifneq ($(wildcard $(REAL_CROPS)/labels_upper.json),)
REAL_TRAIN := --data $(REAL_CROPS)@144
REAL_VAL := --val $(REAL_CROPS)
endif

.PHONY: venv run demo-engine test test-scaled weights evaluate bench clean

venv: $(STAMP)

# torch is pinned and installed first so pip takes the CPU build on this machine's disk.
$(STAMP): pyproject.toml examples/streetshop-example-plugin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps -e examples/streetshop-example-plugin
	touch $(STAMP)

# StreetShop with its embedded defaults: SQLite, a filesystem broker, Milvus Lite on 127.0.0.1, one worker.
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py load_demo_catalog --if-empty --products $(DEMO_PRODUCTS)
	$(PY) manage.py serve

# The engine alone on a real photo (no web, no workers).
demo-engine: venv
	mkdir -p var/demo
	$(PY) -c "from skimage import data; from PIL import Image; Image.fromarray(data.astronaut()).save('var/demo/astronaut.jpg')"
	$(PY) -m engine run var/demo/astronaut.jpg --overlay var/demo/astronaut_overlay.png --json var/demo/astronaut.json

# The whole suite on the embedded defaults, then the service tests again on PostgreSQL + Redis.
test: venv
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory test-scaled

test-scaled: venv
	@$(PY) -c "import psycopg, redis; psycopg.connect('$(SCALED_DATABASE_URL)'.replace('/streetshop', '/postgres')).close(); redis.Redis.from_url('$(SCALED_REDIS_URL)').ping()" \
	  || { echo "PostgreSQL ($(SCALED_DATABASE_URL)) or Redis ($(SCALED_REDIS_URL)) is not reachable: start them (docker compose up -d postgres redis) or set SCALED_DATABASE_URL / SCALED_REDIS_URL"; exit 1; }
	DATABASE_URL=$(SCALED_DATABASE_URL) REDIS_URL=$(SCALED_REDIS_URL) $(PY) -m pytest -q -m services tests/webapp

# The default weights, retrained from scratch: synthetic sets from training seeds, held-out seeds for the test sets.
# The aligner caches its crops' backbone features, about 0.3 MB a crop: 48,000 scenes + 6,336 real crops take
# about 17 GB of memory. The aligner trains 12 epochs, then 4 more from those heads on freshly augmented crops
# (about 50 + 20 minutes on 2 CPU cores).
weights: venv
	$(PY) -m engine generate fld $(DATA)/fld_train --count 48000 --seed $(SEED_TRAIN)
	$(PY) -m engine generate fld $(DATA)/fld_val --count 500 --seed $(SEED_TRAIN)1 --split val
	$(PY) -m engine generate consumer2shop $(DATA)/c2s_train --items 2500 --seed $(SEED_TRAIN)2
	$(PY) -m engine generate consumer2shop $(DATA)/c2s_val --items 300 --seed $(SEED_TRAIN)3 --split val
	$(PY) -m engine train aligner --data $(DATA)/fld_train $(REAL_TRAIN) --val $(DATA)/fld_val $(REAL_VAL) --epochs 12 --out var/weights/cascade_cnn_12.pt
	$(PY) -m engine train aligner --init var/weights/cascade_cnn_12.pt --data $(DATA)/fld_train $(REAL_TRAIN) --val $(DATA)/fld_val $(REAL_VAL) --epochs 4 --lr 5e-4 --seed 7
	$(PY) -m engine train extractor --data $(DATA)/c2s_train --val $(DATA)/c2s_val --epochs 10

evaluate: venv
	$(PY) -m engine generate fld $(DATA)/fld_test --count 1000 --seed $(SEED_TEST) --split test
	$(PY) -m engine generate consumer2shop $(DATA)/c2s_test --items 1000 --seed $(SEED_TEST)1 --split test
	$(PY) -m engine evaluate aligner $(DATA)/fld_test
	$(PY) -m engine evaluate extractor $(DATA)/c2s_test

bench: venv
	$(PY) bench/engine_latency.py

clean:
	rm -rf $(VENV) var
