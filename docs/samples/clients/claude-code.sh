export ANTHROPIC_BASE_URL=https://omnirelay.example.com   # the root, no /v1
export ANTHROPIC_AUTH_TOKEN=$OMNIRELAY_KEY                # sent as Authorization: Bearer
export DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1
claude --model gpt-4o-mini                                # any chat model of the gateway
