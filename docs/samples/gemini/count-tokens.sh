curl -s "$OMNIRELAY_BASE_URL/v1beta/models/gemini-2.0-flash:countTokens?key=$OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"contents": [{"parts": [{"text": "How many tokens is this?"}]}]}'
