curl -s "$OMNIRELAY_BASE_URL/v1/responses" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model": "gpt-4o-mini", "instructions": "Answer briefly.", "input": "Tell me a joke"}'
