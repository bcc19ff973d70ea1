//! Loads inventories (fleet YAML, Nornir, Ansible, CSV) into resolved devices, with errors that name file, line and field.
#![deny(missing_docs)]
