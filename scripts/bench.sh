#!/usr/bin/env bash
echo "bench: not yet implemented (see issue 6)"
