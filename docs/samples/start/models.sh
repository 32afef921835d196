curl -s "$OMNIRELAY_BASE_URL/v1/models" \
  -H "Authorization: Bearer $OMNIRELAY_KEY"
