package client

import (
	"errors"

	"github.com/castellan-iam/castellan/internal/failure"
)

func asFailure(err error, target **failure.Error) bool { return errors.As(err, target) }
