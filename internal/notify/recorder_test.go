package notify

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func TestRecorder(t *testing.T) {
	var r Recorder
	if _, ok := r.Last("jane@example.com"); ok {
		t.Fatal("Last found a message in an empty recorder")
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			to := fmt.Sprintf("user%d@example.com", i%5)
			if err := r.Send(context.Background(), Message{To: to, Subject: "Code", Text: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(r.Messages()); n != 50 {
		t.Fatalf("recorded %d messages, want 50", n)
	}
	if err := r.Send(context.Background(), Message{To: "user1@example.com", Subject: "Code", Text: "latest"}); err != nil {
		t.Fatal(err)
	}
	if m, ok := r.Last("user1@example.com"); !ok || m.Text != "latest" {
		t.Errorf("Last = %+v, %v; want the latest message", m, ok)
	}
	if _, ok := r.Last("nobody@example.com"); ok {
		t.Error("Last found a message for a recipient that got none")
	}
	msgs := r.Messages()
	msgs[0].Text = "changed"
	if r.Messages()[0].Text == "changed" {
		t.Error("Messages returned the recorder's own slice")
	}
}
