curl -s "$OMNIRELAY_BASE_URL/v1/embeddings" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "text-embedding-3-small",
    "input": ["The food was delicious", "The waiter was friendly"],
    "encoding_format": "float"
  }'
