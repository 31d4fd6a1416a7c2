"""Standalone JSON schemas for kubeconform, built offline from the schemas that the PyPI package
kubernetes-validate ships (its "-local" flavour refers to a shared _definitions.json that kubeconform cannot
resolve). Writes only the kinds the given manifests use, each with just the definitions it reaches, under
kubeconform's file naming (`deployment-apps-v1.json`).

    python3 k8s_schemas.py OUT_DIR K8S_VERSION manifest.yaml...
"""
import json
import os
import re
import sys

import kubernetes_validate
import yaml

REF = '/api/_definitions.json#/'


def schema_names(manifests: list[str]) -> set[str]:
    names = set()
    for manifest in manifests:
        with open(manifest) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or 'kind' not in doc or 'apiVersion' not in doc:
                    continue
                group, _, version = doc['apiVersion'].rpartition('/')
                suffix = f"-{group.split('.')[0]}" if group else ''
                names.add(f"{doc['kind'].lower()}{suffix}-{version}")
    return names


def main() -> None:
    out_root, version = sys.argv[1], sys.argv[2]
    names = schema_names(sys.argv[3:])
    src = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema', f'v{version}-local-strict')
    if not os.path.isdir(src):
        sys.exit(f'kubernetes-validate has no schemas for {version}')
    with open(os.path.join(src, '_definitions.json')) as f:
        defs = json.loads(f.read().replace(REF, '#/'))['$defs']
    out = os.path.join(out_root, f'v{version}-standalone-strict')
    os.makedirs(out, exist_ok=True)
    for name in names:
        path = os.path.join(src, f'{name}.json')
        if not os.path.exists(path):
            continue
        with open(path) as f:
            text = f.read().replace(REF, '#/')
        schema = json.loads(text)
        reached, todo = {}, re.findall(r'#/\$defs/([^"]+)"', text)
        while todo:
            key = todo.pop()
            if key in reached or key not in defs:
                continue
            reached[key] = defs[key]
            todo.extend(re.findall(r'#/\$defs/([^"]+)"', json.dumps(defs[key])))
        schema['$defs'] = reached
        with open(os.path.join(out, f'{name}.json'), 'w') as f:
            json.dump(schema, f)


if __name__ == '__main__':
    main()
