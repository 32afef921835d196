# Top up with a redemption code your operator gave you
curl -s "$OMNIRELAY_BASE_URL/api/redeem" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"code": "REDEEM-CODE-FROM-YOUR-OPERATOR"}'
