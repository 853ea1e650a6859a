package train

import "github.com/fraudscore/scorer/model"

// reasons names, for an analyst, what each feature of the default
// definitions (and the transaction's amount) says when it pushes a score
// up. Features not listed get model.DefaultReason.
var reasons = map[string]model.Reason{
	"amount":                     {Code: "HIGH_AMOUNT", Message: "the amount is high for a card payment"},
	"card_tx_count_1m":           {Code: "CARD_VELOCITY_1M", Message: "many transactions on this card in the last minute"},
	"card_tx_count_5m":           {Code: "CARD_VELOCITY_5M", Message: "many transactions on this card in the last 5 minutes"},
	"card_tx_count_1h":           {Code: "CARD_VELOCITY_1H", Message: "many transactions on this card in the last hour"},
	"card_tx_count_24h":          {Code: "CARD_VELOCITY_24H", Message: "many transactions on this card in the last 24 hours"},
	"card_tx_count_7d":           {Code: "CARD_VELOCITY_7D", Message: "an unusual number of transactions on this card in the last 7 days"},
	"card_amount_sum_1h":         {Code: "CARD_SPEND_1H", Message: "high spending on this card in the last hour"},
	"card_amount_sum_24h":        {Code: "CARD_SPEND_24H", Message: "high spending on this card in the last 24 hours"},
	"card_failed_count_10m":      {Code: "CARD_FAILURES_10M", Message: "failed or declined attempts on this card in the last 10 minutes"},
	"card_distinct_merchants_1h": {Code: "CARD_MERCHANTS_1H", Message: "many different merchants for this card in the last hour"},
	"card_seconds_since_prev":    {Code: "CARD_RAPID_REPEAT", Message: "unusual time since the card's previous transaction"},
	"card_amount_avg_30d":        {Code: "CARD_USUAL_SPEND", Message: "the card's usual spend over 30 days makes this payment stand out"},
	"card_amount_max_30d":        {Code: "CARD_LARGEST_30D", Message: "the card's largest payment in 30 days makes this one stand out"},
	"amount_vs_card_avg_30d":     {Code: "AMOUNT_ABOVE_CARD_AVERAGE", Message: "the amount is far above this card's 30-day average"},
	"amount_vs_card_max_30d":     {Code: "AMOUNT_ABOVE_CARD_MAX", Message: "the amount is above this card's largest payment in 30 days"},
	"tx_hour_of_day":             {Code: "UNUSUAL_HOUR", Message: "the time of day is one when fraud is more common"},
	"tx_day_of_week":             {Code: "UNUSUAL_DAY", Message: "the day of the week is one when fraud is more common"},
	"merchant_category_code":     {Code: "RISKY_MERCHANT_CATEGORY", Message: "the merchant category is one fraud often targets"},
	"channel_code":               {Code: "RISKY_CHANNEL", Message: "the payment channel is one fraud often uses"},
	"card_night_tx_count_24h":    {Code: "CARD_NIGHT_ACTIVITY", Message: "several night-time transactions on this card in the last 24 hours"},
}

// ReasonFor is the reason code and message a trained model tells when
// feature pushes a score up.
func ReasonFor(feature string) model.Reason {
	if r, ok := reasons[feature]; ok {
		return r
	}
	return model.DefaultReason(feature)
}
