# Ten redemption codes worth $5 each; each is redeemed once (POST /api/redeem by a user)
curl -s "$OMNIRELAY_BASE_URL/admin/codes" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"batch": "spring-promo", "value_usd": 5, "count": 10}'
