curl -s "$OMNIRELAY_BASE_URL/v1/images/generations" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "dall-e-3",
    "prompt": "a white siamese cat",
    "n": 1,
    "size": "1024x1024",
    "quality": "standard"
  }'
