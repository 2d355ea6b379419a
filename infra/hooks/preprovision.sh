#!/bin/sh
# azd preprovision hook: the chat app's key (CHAT_APP_SECRET) is made once and kept in the azd environment, so
# every provision and every replica signs cookies and derives session identifiers with the same key. A new key
# would leave every stored conversation unreachable.
set -eu

if [ -z "$(azd env get-value CHAT_APP_SECRET 2>/dev/null || true)" ]; then
    azd env set CHAT_APP_SECRET "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    echo "Made the chat app's key (kept in the azd environment as CHAT_APP_SECRET)."
fi
