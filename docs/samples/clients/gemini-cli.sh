export GEMINI_API_KEY=$OMNIRELAY_KEY
export GOOGLE_GEMINI_BASE_URL=https://omnirelay.example.com   # the root, no /v1beta
export GEMINI_CLI_TRUST_WORKSPACE=true    # for non-interactive runs in a new directory
gemini -m claude-sonnet-4-20250514 -p "explain this repository" --output-format json
