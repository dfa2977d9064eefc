package s3

import (
	"errors"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/errcode"
)

// TestExplainKeepsTransient: a throttled or failing server's answer that
// outlasted the SDK's retries is explained as before and stays transient;
// other answers are not.
func TestExplainKeepsTransient(t *testing.T) {
	resp := func(status int, err error) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
	}
	for _, c := range []struct {
		name string
		err  error
		msg  string
		want errcode.Kind
	}{
		{"slow down", &smithy.GenericAPIError{Code: "SlowDown", Message: "reduce your request rate"}, "SlowDown: reduce your request rate", errcode.Transient},
		{"503", resp(503, errors.New("unavailable")), "", errcode.Transient},
		{"no such bucket", &smithy.GenericAPIError{Code: "NoSuchBucket", Message: "gone"}, "NoSuchBucket: gone", errcode.Fatal},
		{"400", resp(400, errors.New("bad")), "", errcode.Fatal},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := explain(c.err)
			if k := errcode.Of(got); k != c.want {
				t.Errorf("kind %v, want %v (%v)", k, c.want, got)
			}
			if c.msg != "" && got.Error() != c.msg {
				t.Errorf("message %q, want %q", got, c.msg)
			}
			if c.want == errcode.Transient && !errors.Is(got, core.ErrTransient) {
				t.Errorf("%v is not core.ErrTransient", got)
			}
		})
	}
}
