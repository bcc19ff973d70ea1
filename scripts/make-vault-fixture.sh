#!/bin/sh
# Makes the Ansible Vault parts of fixtures/inventories/ansible-repo with
# ansible-vault itself (the oracle fleet's decryption is tested against).
# Run once from the workspace root; the outputs are committed:
#   ansible-inventory.json                      (ansible-inventory --list: Ansible's view)
#   inventories/prod/group_vars/all.yml         (inline !vault ansible_password)
#   inventories/prod/host_vars/ios-r2/vault.yml (a whole-file vault)
# ansible-core is installed from PyPI into target/ansible-venv.
set -eu
repo=fixtures/inventories/ansible-repo
pwfile=$repo/vault-password.txt
venv=target/ansible-venv
if [ ! -x "$venv/bin/ansible-vault" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ansible-core
fi
chmod 600 "$pwfile"
inline=$(printf '%s' 'fixture-login-pw' |
    "$venv/bin/ansible-vault" encrypt_string --vault-password-file "$pwfile" \
        --stdin-name ansible_password 2>/dev/null)
cat > $repo/inventories/prod/group_vars/all.yml <<YAML
---
# Login for every device; the password is vault-encrypted (see vault-password.txt).
ansible_user: netops
$inline
ntp_server: 10.0.0.1
YAML
out=$repo/inventories/prod/host_vars/ios-r2/vault.yml
printf '%s\n' '---' 'ansible_become_password: r2-enable-secret' > "$out"
"$venv/bin/ansible-vault" encrypt --vault-password-file "$pwfile" "$out"
# What Ansible itself resolves, per host, for the tests to compare with.
"$venv/bin/ansible-inventory" -i $repo/inventories/prod --vault-password-file "$pwfile" \
    --list > $repo/ansible-inventory.json
"$venv/bin/ansible-vault" --version > target/ansible-version.txt
