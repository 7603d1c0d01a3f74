package contract_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// A backend answers a client's server-bound request, refuses another, and
// publishes into a room. With nats.go, it would subscribe to the request
// subject in a queue group and Respond to each message.
func Example() {
	subj := contract.NewSubjects("router") // routerd's nats.prefix
	fmt.Println(subj.Server("chat", "nick"))

	// A request as routerd delivers it for a client's emit with an id.
	m := &nats.Msg{
		Subject: subj.Server("chat", "nick"),
		Header: nats.Header{
			contract.HeaderNs:    {"chat"},
			contract.HeaderSid:   {"3mK8bq0rGfZ1xJY2a7cPnw"},
			contract.HeaderUser:  {"ann"},
			contract.HeaderEvent: {"nick"},
		},
		Data: []byte(`{"name": "Ann"}`),
	}
	fmt.Println(m.Header.Get(contract.HeaderUser), m.Header.Get(contract.HeaderSid), string(contract.Payload(m.Data)))

	// A reply with this header becomes the client's error frame, with the
	// reply's payload as its message.
	refusal := &nats.Msg{Header: nats.Header{contract.HeaderError: {string(contract.CodeForbidden)}}, Data: []byte("nickname taken")}
	fmt.Println(refusal.Header.Get(contract.HeaderError), string(refusal.Data))

	// Names are escaped into one subject token each.
	fmt.Println(subj.Room("chat", "a.b c", "message"))
	// Output:
	// router.chat.server.nick
	// ann 3mK8bq0rGfZ1xJY2a7cPnw {"name":"Ann"}
	// forbidden nickname taken
	// router.chat.room.a%2Eb%20c.message
}

// A backend reads the room of a message it got on a wildcard subscription
// (router.chat.room.*.message): the Router-Room header where routerd set
// it, else the subject's room token unescaped.
func ExampleUnescape() {
	m := &nats.Msg{Subject: "router.chat.room.a%2Eb%20c.message"}
	room := m.Header.Get(contract.HeaderRoom)
	if room == "" {
		tok := strings.Split(m.Subject, ".")[3]
		var err error
		if room, err = contract.Unescape(tok); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("%q\n", room)
	// Output: "a.b c"
}

// A backend puts a socket in a room and reads the answer.
func ExampleCtlReply() {
	subj := contract.NewSubjects("router")
	body, _ := json.Marshal(contract.CtlRequest{SID: "3mK8bq0rGfZ1xJY2a7cPnw", Room: "vip"})
	fmt.Println(subj.Ctl("chat", contract.CtlJoin), string(body))

	for _, reply := range []string{
		`{"ok":true,"count":1}`,
		`{"ok":false,"error":{"code":"unknown_namespace","message":"namespace \"chat\" is not declared"}}`,
	} {
		var rep contract.CtlReply
		if err := json.Unmarshal([]byte(reply), &rep); err != nil {
			fmt.Println(err)
			continue
		}
		if !rep.OK {
			fmt.Println(rep.Error.Code == contract.CodeUnknownNamespace, rep.Error)
			continue
		}
		fmt.Println("count", rep.Count)
	}
	// Output:
	// router.chat.ctl.join {"sid":"3mK8bq0rGfZ1xJY2a7cPnw","room":"vip"}
	// count 1
	// true unknown_namespace: namespace "chat" is not declared
}
