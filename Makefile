# ironcloud.stack: the two commands a user needs are `make demo` and `make test`.
# Every target is idempotent and runs as root on a fresh Debian 12 machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV        := $(ROOT)/.venv
PY          := $(VENV)/bin/python
PYTHON      ?= python3.11
COLLECTIONS := $(ROOT)/.build/collections
COLLECTION  := $(COLLECTIONS)/ansible_collections/ironcloud/stack
LAB         := $(PY) $(ROOT)/tests/lab/labctl.py
# The lab's endpoints and credentials, for commands run against it.
LAB_ENV     := set -a && . $(ROOT)/.lab/env && set +a &&
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONDONTWRITEBYTECODE := 1

# Debian packages: the podman stack for the hypervisor hosts, Open vSwitch, debootstrap for the
# host image, Ceph (mon, osd, mgr and the python bindings), PostgreSQL for the state store and etcd for the
# stand-in K3s (tests/lab/k3s).
APT_PACKAGES := podman runc conmon netavark aardvark-dns containernetworking-plugins fuse-overlayfs \
	slirp4netns catatonit uidmap iptables iproute2 iputils-ping debootstrap openvswitch-switch \
	python3-openvswitch ethtool tcpdump nftables iputils-arping ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd \
	postgresql uuid-runtime rsync shellcheck chromium etcd-server etcd-client python3-cryptography python3-yaml

.PHONY: help deps venv collection lint sanity units integration k3s-test lab-up lab-down lab-status \
	bench test demo build clean molecule

help:
	@echo "make demo   - set everything up, bring the lab up and build the cloud on it (site.yml)"
	@echo "make test   - set everything up and run lint, sanity, unit and integration tests"
	@echo "pieces: deps venv lint sanity units integration lab-up lab-down lab-status bench build clean"

deps: .build/deps.stamp
.build/deps.stamp: $(ROOT)/Makefile $(ROOT)/tests/lab/containers.conf
	@mkdir -p .build
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@$(ROOT)/tests/lab/podman-settings.sh
	@touch $@

venv: $(VENV)/.stamp collection
$(VENV)/.stamp: $(ROOT)/tests/requirements.txt $(ROOT)/tests/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt -c tests/constraints.txt
	@touch $@

# Ansible finds the collection of this checkout through a link, so edits need no reinstall.
collection: $(COLLECTION)
$(COLLECTION):
	@mkdir -p $(dir $(COLLECTION))
	@ln -sfn $(ROOT) $(COLLECTION)

lint: venv
	ruff check plugins tests bench
	ruff format --check plugins tests bench
	cd $(COLLECTIONS) && mypy --config-file $(ROOT)/mypy.ini -p ansible_collections.ironcloud.stack.plugins
	rm -rf .ansible  # ansible-lint caches a copy of the collection there; lint this checkout
	ansible-lint --profile production
	antsibull-changelog lint

sanity: venv
	@$(ROOT)/tests/sanity/run.sh

# The store's unit tests run on both backends: SQLite files and the lab's PostgreSQL.
units: deps venv
	$(LAB) up postgres
	$(LAB_ENV) $(PY) -m pytest -q tests/unit

lab-up: deps venv
	$(LAB) up

lab-down: venv
	$(LAB) down

lab-status: venv
	$(LAB) status

# The hypervisor role's molecule scenario (extensions/molecule/hypervisor, about 40 s) on the image and
# networks of the lab's hosts layer.
molecule: deps venv
	$(LAB) up hosts
	molecule test -s hypervisor

# Every integration test of the lab, the K3s role on the stand-in K3s included (test_k3s.py, about 10 minutes);
# `make k3s-test` runs that one alone.
integration: lab-up
	$(PY) -m pytest -q tests/integration tests/netns

k3s-test: lab-up
	$(PY) -m pytest -q tests/integration/test_k3s.py

# Every benchmark runs, a failed one does not stop the others; the summary says which failed (exit 1 then).
bench: lab-up
	$(LAB_ENV) $(PY) bench/run_all.py

test: deps venv lint sanity units integration molecule

demo: lab-up
	$(LAB_ENV) ansible-playbook playbooks/site.yml
	@echo "The cloud checked from inside its VMs, over SSH through their floating IPs (playbooks/verify.yml):"
	$(LAB_ENV) ansible-playbook -i inventories/lab-cloud/lab.cloud.yml playbooks/verify.yml \
	  -e verify_hosts='tenant_acme:tenant_globex'
	@echo "This month's invoices of the demo tenants so far (playbooks/billing.yml; open the .html files):"
	$(LAB_ENV) ansible-playbook playbooks/billing.yml -e period=$$(date -u +%Y-%m) -e billing_dir=$(ROOT)/.lab/invoices
	@ls -1 $(ROOT)/.lab/invoices/$$(date -u +%Y-%m)/*.html
	@echo "The lab cloud as the ironcloud.stack.cloud inventory plugin sees it:"
	$(LAB_ENV) ansible-inventory -i inventories/lab-cloud/lab.cloud.yml --graph
	$(LAB_ENV) $(PY) tests/lab/k3s/demo.py

build: venv
	ansible-galaxy collection build --force --output-path .build/dist

clean: lab-down
	rm -rf .build .venv
