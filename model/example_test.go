package model_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
)

func ExampleEngine_Score() {
	known := []string{"card_tx_count_1m", "card_failed_count_10m"}
	rules, err := model.DefaultRules(known)
	if err != nil {
		fmt.Println(err)
		return
	}
	eng := model.NewEngine(rules, model.DefaultLogistic(), model.Options{})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := eng.Score(ctx, model.Input{
		Tx: &fraud.Transaction{ID: "tx-1", CardID: "card-1", Amount: 2000, Currency: "USD"},
		Features: fraud.Features{
			{Name: "card_tx_count_1m", Value: 1},
			{Name: "card_failed_count_10m", Value: 3},
		},
	})
	fmt.Println(out.Decision, out.Score, out.Reasons[0].Code, out.Degraded)
	// Output: review 0.7 CARD_FAILURES_10M false
}
