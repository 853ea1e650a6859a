package train

import "github.com/fraudscore/scorer/model"

// reasons names, for an analyst, what each feature of the default
// definitions (and an amount column) says when it pushes a score up.
// Features not listed get model.DefaultReason. A test keeps it covering
// the default definitions.
var reasons = map[string]model.Reason{
	"amount":                     {Code: "AMOUNT_RISK", Message: "the amount is in a range where fraud is common"},
	"tx_amount":                  {Code: "AMOUNT_RISK", Message: "the amount is in a range where fraud is common"},
	"card_tx_count_1m":           {Code: "CARD_BURST_1M", Message: "an unusual number of transactions on this card in the last minute"},
	"card_tx_count_5m":           {Code: "CARD_VELOCITY_5M", Message: "many transactions on this card in the last 5 minutes"},
	"card_tx_count_1h":           {Code: "CARD_VELOCITY_1H", Message: "many transactions on this card in the last hour"},
	"card_tx_count_24h":          {Code: "CARD_VELOCITY_24H", Message: "an unusual number of transactions on this card in the last 24 hours"},
	"card_tx_count_7d":           {Code: "CARD_VELOCITY_7D", Message: "an unusual number of transactions on this card in the last 7 days"},
	"card_amount_sum_1h":         {Code: "CARD_SPEND_1H", Message: "high spending on this card in the last hour"},
	"card_amount_sum_24h":        {Code: "CARD_SPEND_24H", Message: "high spending on this card in the last 24 hours"},
	"card_failed_count_10m":      {Code: "CARD_RECENT_FAILURES", Message: "failed or declined attempts on this card in the last 10 minutes"},
	"card_distinct_merchants_1h": {Code: "CARD_MERCHANTS_1H", Message: "many different merchants for this card in the last hour"},
	"card_seconds_since_prev":    {Code: "CARD_RAPID_REPEAT", Message: "unusual time since the card's previous transaction"},
	"card_amount_avg_7d":         {Code: "CARD_USUAL_SPEND", Message: "the card's average payment over 7 days makes this one stand out"},
	"card_amount_max_7d":         {Code: "CARD_LARGEST_7D", Message: "the card's largest payment in 7 days makes this one stand out"},
	"card_night_tx_count_24h":    {Code: "CARD_NIGHT_ACTIVITY", Message: "several night-time transactions on this card in the last 24 hours"},
	"card_night_amount_sum_24h":  {Code: "CARD_NIGHT_SPEND", Message: "high night-time spending on this card in the last 24 hours"},
	"amount_vs_card_avg_7d":      {Code: "AMOUNT_ABOVE_CARD_AVERAGE", Message: "the amount is far from this card's 7-day average"},
	"card_spend_24h_vs_avg_7d":   {Code: "CARD_SPEND_SURGE", Message: "the card's spending in the last 24 hours is far above its usual payment"},
	"card_night_share_24h":       {Code: "CARD_NIGHT_SHARE", Message: "much of this card's activity in the last 24 hours was at night"},
	"tx_hour_of_day":             {Code: "UNUSUAL_HOUR", Message: "the time of day is one when fraud is more common"},
	"tx_at_night":                {Code: "NIGHT_TIME", Message: "the payment is at night, when fraud is more common"},
	"merchant_category_code":     {Code: "RISKY_MERCHANT_CATEGORY", Message: "the merchant category is one fraud often targets"},
}

// ReasonFor is the reason code and message a trained model tells when
// feature pushes a score up.
func ReasonFor(feature string) model.Reason {
	if r, ok := reasons[feature]; ok {
		return r
	}
	return model.DefaultReason(feature)
}
