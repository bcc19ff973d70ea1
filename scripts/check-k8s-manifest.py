#!/usr/bin/env python3
"""Offline check of docs/deploy/k8s/fleet-indexed-job.yaml.

The oracle is the official Kubernetes Python client (its models are
generated from the Kubernetes OpenAPI spec): every field of every object must
be a field of the model at that place (`attribute_map`), with a value of the
declared type (`openapi_types`), and the client must build the typed object
(it refuses missing required fields). Then what fleet relies on: the shard
Job is Indexed, its completions equal the N of `--shard auto/N`, and a merge
Job reads the same volume.

No cluster is contacted. Usage: check-k8s-manifest.py MANIFEST
"""
import re
import sys

import kubernetes.client as k8s
import yaml

MODELS = {("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
          ("batch/v1", "Job"): "V1Job"}
PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float)}
errors = []


def check(value, typ, path):
    if typ == "object":
        return  # IntOrString, Quantity, free-form
    m = re.fullmatch(r"[lL]ist\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list ({typ})")
            return
        for i, v in enumerate(value):
            check(v, m.group(1), f"{path}[{i}]")
        return
    m = re.fullmatch(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])", typ)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map ({typ})")
            return
        for k, v in value.items():
            check(v, m.group(1) or m.group(2), f"{path}.{k}")
        return
    if typ in PRIMITIVES:
        if not isinstance(value, PRIMITIVES[typ]) or (typ == "int" and isinstance(value, bool)):
            errors.append(f"{path}: expected {typ}, got {type(value).__name__} {value!r}")
        return
    if typ in ("datetime", "bytes"):
        return
    model = getattr(k8s, typ)
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({typ})")
        return
    by_json = {j: a for a, j in model.attribute_map.items()}
    for key, v in value.items():
        attr = by_json.get(key)
        if attr is None:
            errors.append(f"{path}.{key}: no such field in {typ}")
            continue
        check(v, model.openapi_types[attr], f"{path}.{key}")


def main(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    client = k8s.ApiClient()
    jobs = {}
    for i, doc in enumerate(docs):
        key = (doc.get("apiVersion"), doc.get("kind"))
        name = f"{path}#{i} {key[1]} {doc.get('metadata', {}).get('name')}"
        if key not in MODELS:
            errors.append(f"{name}: unexpected apiVersion/kind {key}")
            continue
        check(doc, MODELS[key], name)
        try:
            client._ApiClient__deserialize(doc, MODELS[key])
        except (ValueError, TypeError) as e:
            errors.append(f"{name}: the client refuses it: {e}")
        if key[1] == "Job":
            jobs[doc["metadata"]["name"]] = doc
    shard = jobs.get("fleet-shards")
    merge = jobs.get("fleet-merge")
    if not shard or not merge:
        errors.append("expected Jobs fleet-shards and fleet-merge")
    else:
        spec = shard["spec"]
        if spec.get("completionMode") != "Indexed":
            errors.append("fleet-shards: completionMode must be Indexed")
        args = " ".join(shard["spec"]["template"]["spec"]["containers"][0]["args"])
        m = re.search(r"--shard auto/(\d+)", args)
        if not m:
            errors.append("fleet-shards: the command must use --shard auto/N")
        elif int(m.group(1)) != spec.get("completions"):
            errors.append(f"fleet-shards: --shard auto/{m.group(1)} but completions is {spec.get('completions')}")
        margs = " ".join(merge["spec"]["template"]["spec"]["containers"][0]["args"])
        if "fleet merge" not in margs:
            errors.append("fleet-merge: the command must run fleet merge")
        claims = lambda j: {v["persistentVolumeClaim"]["claimName"]
                            for v in j["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v}
        if not claims(shard) & claims(merge):
            errors.append("fleet-merge must mount the volume the shards write to")
    if errors:
        for e in errors:
            print(f"k8s-check: {e}", file=sys.stderr)
        sys.exit(1)
    from importlib.metadata import version
    print(f"k8s-check: {path}: {len(docs)} objects match the schema of the Kubernetes "
          f"Python client {version('kubernetes')}; Indexed Job of "
          f"{shard['spec']['completions']} shards and a merge Job on the same volume")


if __name__ == "__main__":
    main(sys.argv[1])
