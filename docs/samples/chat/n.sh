# N choices: three answers to one prompt (each one is charged)
curl -s "$OMNIRELAY_BASE_URL/v1/chat/completions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "gpt-4o-mini",
    "n": 3,
    "messages": [{"role": "user", "content": "Suggest a name for a lighthouse"}]
  }'
