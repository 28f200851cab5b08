package storetest_test

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// The user suites on memstore.Users (redisstore and pgstore call them from
// their own tests).
var memUsers = storetest.UsersHarness{
	NewUsers: func(_ testing.TB, h *core.PasswordHasher) storetest.UserStore { return memstore.NewUsers(h) },
}

func TestMemstoreUsers(t *testing.T)              { storetest.RunUsers(t, memUsers) }
func TestMemstoreUnknownEmailTiming(t *testing.T) { storetest.RunUnknownEmailTiming(t, memUsers) }

func TestMemstoreAccounts(t *testing.T)   { storetest.RunAccounts(t, memUsers) }
func TestMemstoreIdentities(t *testing.T) { storetest.RunIdentities(t, memUsers) }
